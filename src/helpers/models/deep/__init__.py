"""Dual-input 3D DenseNet of the paper's step 06: preprocessing, training, prediction, cross-fitting.

The paper feeds MONAI's 3D DenseNet-121 the whole CT and a small CNN the tumour region,
concatenates both embeddings into a fully connected head with a two-class output, resizes
both inputs to 96^3 by linear interpolation, augments with random 90-degree rotations, axis
flips and Gaussian noise, and trains with Adam (lr 1e-4, 100 epochs, cross-entropy). It
keeps the epoch with the best *test* accuracy: ``train_densenet`` reproduces that when told
to select on an eval set named "test" (protocol ``paper``) and selects on an inner
validation split under protocol ``rigorous`` (see ``config.SELECTION`` and ``protocol.fit_for_protocol``).

Choices the paper does not state, made explicit here:

* intensity: an abdominal window of [-160, 240] HU clipped and scaled to [0, 1];
* images are read with ``helpers.data`` (so manifests, DICOM and Slicer segmentations work
  as everywhere else) and reoriented to LPS, inside a custom MONAI ``MapTransform``;
* whole-image input: the full scan resized to ``input_size``^3 by trilinear interpolation, as
  the paper (off by default, as the paper says nothing of it; ``anti_aliasing=True``, the profile's
  ``dl_anti_aliasing``, smooths before shrinking: less aliased noise, slower preprocessing),
  or, with ``field_of_view_mm``, a fixed cube of that side centred on the tumour: at small input
  sizes the full scan leaves voxels too coarse to show vessel contact or fat stranding;
* ROI input: a cube in mm centred on the reader-1 tumour bounding box, of side = the box's
  longest extent + 2 x ``roi_margin_mm`` (a cube so that resizing keeps the tumour's shape),
  zero-padded (= below the window) where it leaves the scan, resized to ``input_size``^3;
* augmentation (training only, each p = 0.5): a 90-degree rotation in the axial plane and a
  flip per axis, applied identically to both inputs; Gaussian noise drawn for each input;
  applied to whole batches of tensors (``transforms.augment_batch``), not case by case;
* the preprocessed tensors are cached on disk (``monai.data.PersistentDataset``) under a key
  of the preprocessing settings and each file's size and modification time, and held in
  memory while a network trains or predicts (``transforms.CaseTensors``), so that an epoch
  reads nothing from disk;
* ``heads="multitask"``: one network, one two-logit head per horizon, one checkpoint epoch;
  ``heads="separate"``: one network per horizon, each with its own checkpoint epoch.
"""
