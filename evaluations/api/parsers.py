"""The JSON parser of the evidence API: the shared one, reading NaN and infinities as floats.

DRF's strict JSON parser refuses ``NaN``/``Infinity`` for the whole body without saying
where they were. This one reads them as floats so that validation can name the field
(``results[3].value: Must be a finite number``); every number field refuses them.
"""

from __future__ import annotations

from rsp_portal.parsers import FloatJSONParser, body_limit, too_large

__all__ = ["EvidenceJSONParser", "body_limit", "too_large"]


#: The evidence API's parser is the shared one (``rsp_portal.parsers``).
EvidenceJSONParser = FloatJSONParser
