"""Pipelines: load a trained model package and run it on files."""
from speech.pipelines.package import AsrPackage, PackageError, load_asr_package, save_asr_package
from speech.pipelines.transcriber import Failure, Transcriber, Transcript

__all__ = ["AsrPackage", "PackageError", "load_asr_package", "save_asr_package", "Failure", "Transcriber", "Transcript"]
