"""Data in: the frames' schema, the :class:`Dataset`, the COCO / YOLO / folder readers, image
decoding and the bundled sample. The lowest layer: it imports nothing above it."""
