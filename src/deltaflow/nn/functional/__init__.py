"""``deltaflow.nn.functional`` -- mirrors ``torch.nn.functional``.

One file per family; each defines ``__all__`` and is re-exported here.
"""
from .activation import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from .vision import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from ...functional import pad  # noqa: F401,E402  (F.pad, as in torch.nn.functional)
