"""Readers and writers of dataset formats (COCO, YOLO, plain folders)."""
