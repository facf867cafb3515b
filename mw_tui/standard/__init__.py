"""The DICOM vocabulary every layer shares: SOP classes and transfer syntaxes (`sop`),
DIMSE status codes (`status`) and the C-FIND matching rules (`matching`). Plain data and
pure functions, below the store and the network layer."""
