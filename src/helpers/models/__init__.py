"""The study's models: the random survival forest, the dual-input DenseNet and the fusion classifiers."""
