"""The user-facing API (DeepSoCFlow names): the layer that composes all the others.

`Hardware` adds the build flows to the compiler's hardware description, `QModel` adds export and
verification to the frontend's bundle graph. Nothing below this layer imports it.
"""
