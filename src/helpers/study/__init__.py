"""The study as a whole: where the cohort comes from, the protocol comparison and the reproduction."""
