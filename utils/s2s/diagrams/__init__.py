"""Diagrams drawn by code: the pictures the chapters explain their ideas with.

One module per chapter's picture, all built from the same few primitives in `canvas`
(boxes, arrows, labels on an axis without ticks), so every diagram is reproducible and
restyled in one place. Each function returns the matplotlib Figure it drew."""
