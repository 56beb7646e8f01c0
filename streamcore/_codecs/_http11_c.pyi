# Stub for the compiled twin: its API is exactly the pure twin's.
from ._http11_py import CLOSED as CLOSED
from ._http11_py import DEFAULT_MAX_FIELDS as DEFAULT_MAX_FIELDS
from ._http11_py import DEFAULT_MAX_HEAD_SIZE as DEFAULT_MAX_HEAD_SIZE
from ._http11_py import END as END
from ._http11_py import MAX_CONTENT_LENGTH_DIGITS as MAX_CONTENT_LENGTH_DIGITS
from ._http11_py import NEED_DATA as NEED_DATA
from ._http11_py import PAUSED as PAUSED
from ._http11_py import Http11Connection as Http11Connection
from ._http11_py import Http11Error as Http11Error
from ._http11_py import RequestHead as RequestHead
from ._http11_py import target_form as target_form
