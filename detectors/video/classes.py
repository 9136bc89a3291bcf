"""The object classes Pantau's detectors report (COCO names), without loading any network, so
configuration can be validated anywhere (the console's zone editor too)."""

from __future__ import annotations

PERSON = "person"
VEHICLE_CLASSES = ("bicycle", "car", "motorcycle", "bus", "truck")
CITY_CLASSES = (PERSON, *VEHICLE_CLASSES)
# Things people carry and leave behind: the abandoned-object rule names them when the detector sees one.
CARRIED_CLASSES = ("backpack", "umbrella", "handbag", "suitcase")
DETECTED_CLASSES = (*CITY_CLASSES, *CARRIED_CLASSES)


def check_classes(classes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The classes as a tuple; a name that is not reported fails listing the valid ones."""
    unknown = sorted(set(classes) - set(DETECTED_CLASSES))
    if unknown:
        raise ValueError(f"unknown object classes {', '.join(unknown)}; classes: {', '.join(DETECTED_CLASSES)}")
    return tuple(classes)
