"""OAO: an Online-And-Offline retail network."""

__version__ = "0.1.0"
