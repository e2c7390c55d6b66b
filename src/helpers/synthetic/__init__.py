"""In-silico pancreatic-cancer cohort with a known ground truth.

The generator stands in for the cohort of Dou et al. (BMC Cancer 2025): 880 patients from
two centres with portal-venous CT, a tumour mask per reader, TNM stage and survival. Every
patient is drawn from a documented latent model, so the true risk of each patient is known
and every analysis can be compared with the best achievable one (the oracle).

The true log hazard has three visible parts and one hidden part:

* ``lp_clinical`` - AJCC 8th T, N, M and age;
* ``lp_roi`` - what lies inside the tumour mask: size, hypo-attenuation, heterogeneity,
  necrosis and margin irregularity;
* ``lp_context`` - what lies only outside the mask: SMA/SMV contact, peripancreatic fat
  stranding and liver metastases;
* ``frailty`` - irreducible patient-level noise that no model can see.

Every patient is an independent draw from one population: categories are cut at thresholds
of that population (learned once per spec from a 200,000-patient reference draw), so the
paper's Table 1 shares hold in expectation and a cohort of any size, such as notebook 10's
external cohort, comes from the same distribution. Each image is then drawn from its patient's
latent row and a random stream that depends only on (seed, patient index), so the files do not
depend on the number of worker processes.
"""
