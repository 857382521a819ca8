"""Every table of tongdai, imported so that Alembic and tests see one metadata."""

from tongdai.callbacks import models as _callbacks  # noqa: F401
from tongdai.calls import models as _calls  # noqa: F401
from tongdai.core.db import Base
from tongdai.crm import models as _crm  # noqa: F401
from tongdai.directory import models as _directory  # noqa: F401
from tongdai.iam import models as _iam  # noqa: F401
from tongdai.ivr import models as _ivr  # noqa: F401
from tongdai.routing import store as _routing  # noqa: F401

metadata = Base.metadata
