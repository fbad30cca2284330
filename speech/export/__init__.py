"""``speech export``: model packages -> ONNX graphs (+ int8) for :mod:`speech.runtime`.

:mod:`speech.export.common` holds what every kind shares (graph export, opset check, int8
quantization, writing the folder and its card); each package kind has its own module.
"""
