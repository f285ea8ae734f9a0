"""Compiler: hardware description, job geometry, stride lowering, stream layouts and the export
that turns a bundle graph into the engine's DRAM image, descriptors and expected vectors."""
