from .synthesis import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
from .spotting_dataset import *  # noqa: F401,F403
from .synthetic_dataset import *  # noqa
from .text_sizes import *  # noqa: F401,F403
