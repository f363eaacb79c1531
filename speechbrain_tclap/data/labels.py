"""Class labels as words, for prompts and captions.

Authors
 * speechbrain-tclap developers 2026
"""


def readable_label(label: str) -> str:
    """Class name as words: underscores and dashes become spaces.

    Arguments
    ---------
    label : str
        A class label.

    Returns
    -------
    str
        The readable name.

    Example
    -------
    >>> readable_label("crackling_fire")
    'crackling fire'
    """
    return " ".join(label.replace("_", " ").replace("-", " ").split())
