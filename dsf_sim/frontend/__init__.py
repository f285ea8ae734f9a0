"""Frontend: the Keras-level model (QInput, Bundle, BundleModel), quantisers and the integer
reference model that defines every value. Knows nothing about hardware."""
