"""Media content: DICOM File-sets per profile, DICOMDIR, IHE PDI pages, ISO images."""
