"""The one exception type for user mistakes.

Anything a user can get wrong (a missing file, a corrupt TIFF, a 2-D image where frames are
needed, shapes that do not match, NaN values) raises :class:`W2SInputError` with one sentence
that says what is wrong and what to do. The command line turns it into one line on stderr and
exit code 2; the widgets turn it into a napari notification. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class W2SInputError(ValueError):
    """A problem with the user's input, explained in one sentence."""
