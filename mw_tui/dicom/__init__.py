"""DICOM networking: the receiver (SCP), the clients (SCU) and their tables."""
