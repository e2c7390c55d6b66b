"""A cohort's data: the manifest, images and masks, pseudonyms, outcomes at the horizons and Table 1."""
