from gateway.contract import decode
from ingest.encode import to_line
from ingest.lineprotocol import escape_tag, format_field, line

NOW = 1_795_000_000_000


def test_escaping_follows_line_protocol_rules():
    assert escape_tag("a b,c=d\\") == "a\\ b\\,c\\=d\\\\"
    assert format_field('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert format_field(True) == "true" and format_field(3) == "3i" and format_field(0.5) == "0.5"


def test_none_fields_and_empty_tags_are_left_out():
    assert line("m", {"b": "2", "a": "1", "c": ""}, {"x": 1, "y": None}, 5) == "m,a=1,b=2 x=1i 5"


def test_meter_reading_maps_to_meter_measurement_with_medium_and_unit_tags():
    msg = decode("community/site1/b2/meter/m-3/telemetry",
                 b'{"ts": %d, "seq": 4, "medium": "water", "unit": "0101", "reading": 12, "flow": 0.25}' % NOW,
                 prefix="community", now_ms=NOW)
    assert to_line(msg) == (
        "meter,building=b2,device=m-3,medium=water,site=site1,unit=0101 reading=12.0,flow=0.25,seq=4i "
        f"{NOW}"
    )


def test_event_keeps_unknown_details_as_json_text():
    msg = decode("community/site1/b2/elevator/el-1/event",
                 b'{"ts": %d, "seq": 9, "event": "passengers_trapped", "floor": 7}' % NOW,
                 prefix="community", now_ms=NOW)
    assert to_line(msg) == (
        "device_event,building=b2,device=el-1,event=passengers_trapped,kind=elevator,site=site1 "
        f'active=true,seq=9i,detail="{{\\"floor\\": 7}}" {NOW}'
    )
