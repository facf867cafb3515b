"""The DICOM vocabulary every layer shares: SOP classes and transfer syntaxes (`sop`),
DIMSE status codes (`status`), the C-FIND matching rules (`matching`) and the terms of
Media Creation Management (`mcm`). Plain data and pure functions, below the store and the
network layer."""
