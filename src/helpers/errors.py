"""The book's own errors: one base class, so a caller can tell the project's messages from a bug.

Each names what is wrong and how to fix it (the patient, the file, the profile key, the stage
to re-run) and is raised before any library's own traceback. A helper's bug is never one of
these: it surfaces as the library's or Python's exception.
"""

from __future__ import annotations


class BookError(Exception):
    """Base class of every error the project raises on purpose."""


class ProfileError(BookError, ValueError):
    """A profile (or a notebook parameter) that cannot be run as written."""


class CudaUnavailableError(ProfileError):
    """A CUDA device was asked for on a machine where PyTorch sees no GPU."""


class StaleInputError(BookError, RuntimeError):
    """An input artifact is missing or differs from what its producing stage recorded."""


class UndeclaredArtifactError(BookError, KeyError):
    """A notebook read (or a stage recorded under another producer) a file the artifact contract does not declare."""

    def __str__(self) -> str:
        """The message as given (KeyError would quote it)."""
        return str(self.args[0])


class InputError(BookError, ValueError):
    """An image, mask or ROI that cannot be used as given; the message names the file and the problem."""


class CohortTooSmallError(BookError, ValueError):
    """A cohort (or split) too small for a method: the message names the method, the minimum it needs and the
    cohort's size, before the library's own check fails less clearly."""
