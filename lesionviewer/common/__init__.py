"""What detection, training and risk share: model-file containers, config files, JSON numbers, exit codes.

Nothing here knows a network or a data set; it imports only the standard library (torch and
safetensors only inside the functions that write weights), so every package may use it.

Example:
    >>> from lesionviewer.common import EXIT_USAGE, nan_to_null
    >>> EXIT_USAGE, nan_to_null({"auc": float("nan")})
    (2, {'auc': None})
"""
from lesionviewer.common.config_tree import (
    ConfigError,
    apply_overrides,
    build_section,
    check_rules,
    parse_override,
    read_config_dict,
)
from lesionviewer.common.exit_codes import EXIT_DATA, EXIT_NONFINITE, EXIT_OK, EXIT_RUN, EXIT_USAGE, fail
from lesionviewer.common.json_numbers import nan_to_null, plain_number
from lesionviewer.common.model_container import (
    CARD_METADATA_KEY,
    MAX_CARD_CHARS,
    ModelContainerError,
    card_task,
    read_card_dict,
    read_header,
)

__all__ = [
    "CARD_METADATA_KEY", "MAX_CARD_CHARS", "ModelContainerError", "read_header", "read_card_dict", "card_task",
    "ConfigError", "build_section", "check_rules", "read_config_dict", "parse_override", "apply_overrides",
    "nan_to_null", "plain_number",
    "EXIT_OK", "EXIT_USAGE", "EXIT_NONFINITE", "EXIT_RUN", "EXIT_DATA", "fail",
]
