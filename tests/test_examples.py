"""The second example, scripts/routeguide.lua (proto/routeguide.proto), through python3-grpcio:
each call kind, its errors, metadata, the deadline budget of ListFeatures and cancellation."""

import math
import os
import threading
import time
import unittest

import grpc

from harness import (EXAMPLE_PROTOSET, SOURCE_DIR, HostTestCase, load_stubs, load_stubs_as, rpc,
                     run_host_once, wait_until)

rg = load_stubs("routeguide.proto", include=os.path.join(SOURCE_DIR, "proto"))
RPC_PROTOS = os.path.join(SOURCE_DIR, "host", "builtin", "google", "rpc")
rpc_status = load_stubs_as(os.path.join(RPC_PROTOS, "status.proto"), "rpc_status.proto")
error_details = load_stubs_as(os.path.join(RPC_PROTOS, "error_details.proto"),
                              "rpc_error_details.proto")

Point, Rectangle, RouteNote = rg.Point, rg.Rectangle, rg.RouteNote

KNOWN = Point(latitude=409146138, longitude=-746188906)
KNOWN_NAME = "Berkshire Valley Management Area Trail, Jefferson, NJ, USA"
UNNAMED = Point(latitude=416851321, longitude=-742674555)   # in the script, with no name
NOWHERE = Point(latitude=0, longitude=0)
# The rectangle of the stock route_guide clients: holds every named feature of the script.
AREA = Rectangle(lo=Point(latitude=400000000, longitude=-750000000),
                 hi=Point(latitude=420000000, longitude=-730000000))
NAMED_FEATURES = 11


def meters(a, b):
    """The script's haversine, for comparison."""
    e7 = 1e7
    lat1, lat2 = math.radians(a.latitude / e7), math.radians(b.latitude / e7)
    dlat, dlon = lat2 - lat1, math.radians((b.longitude - a.longitude) / e7)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 6371000 * 2 * math.atan2(math.sqrt(h), math.sqrt(1 - h))


def bad_request(trailers, code, message):
    """The google.rpc.BadRequest detail of an INVALID_ARGUMENT, decoded as clients do:
    [(field, description)]."""
    raw = trailers.get("grpc-status-details-bin")
    assert raw is not None, "no grpc-status-details-bin in %r" % (trailers,)
    st = rpc_status.Status.FromString(raw)
    assert (st.code, st.message) == (code.value[0], message), (st.code, st.message)
    assert len(st.details) == 1, st
    br = error_details.BadRequest()
    assert st.details[0].Unpack(br), st.details[0].type_url
    return [(v.field, v.description) for v in br.field_violations]


def stream(call):
    """Reads a response stream to its end: (replies, code, details, initial md, trailing md)."""
    got = []
    try:
        for reply in call:
            got.append(reply)
    except grpc.RpcError as e:
        return (got, e.code(), e.details(), dict(e.initial_metadata() or ()),
                dict(e.trailing_metadata() or ()))
    return (got, call.code(), call.details(), dict(call.initial_metadata() or ()),
            dict(call.trailing_metadata() or ()))


class RouteGuideTest(HostTestCase):
    def setUp(self):
        self.stub = rg.RouteGuideStub(self.host.channel())

    # --- GetFeature: unary ---------------------------------------------------------------
    def test_get_feature_known(self):
        resp, code, details, _ = rpc(self.stub.GetFeature, KNOWN)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.name, KNOWN_NAME)
        self.assertEqual(resp.location, KNOWN)

    def test_get_feature_unknown_is_unnamed_feature(self):
        for p in (NOWHERE, UNNAMED):
            resp, code, details, _ = rpc(self.stub.GetFeature, p)
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertEqual(resp.name, "")
            self.assertEqual(resp.location, p)

    def test_get_feature_not_found_on_request(self):
        _, code, details, _ = rpc(self.stub.GetFeature, NOWHERE, metadata=[("x-missing", "error")])
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(details, "no feature at (0.0000000, 0.0000000)")
        resp, code, details, _ = rpc(self.stub.GetFeature, KNOWN, metadata=[("x-missing", "error")])
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.name, KNOWN_NAME)

    def test_get_feature_off_the_globe(self):
        _, code, details, trailers = rpc(self.stub.GetFeature, Point(latitude=910000000, longitude=0))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(details, "point (91.0000000, 0.0000000) is not on the globe")
        self.assertEqual(bad_request(trailers, code, details), [("latitude", details)])

    # --- ListFeatures: server streaming ----------------------------------------------------
    def test_list_features(self):
        got, code, details, headers, trailers = stream(self.stub.ListFeatures(AREA, timeout=30))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(len(got), NAMED_FEATURES)
        self.assertTrue(all(f.name for f in got))
        self.assertIn(KNOWN_NAME, [f.name for f in got])
        self.assertEqual(headers.get("x-feature-count"), str(NAMED_FEATURES))
        self.assertNotIn("x-truncated", trailers)

    def test_list_features_corners_in_any_order(self):
        swapped = Rectangle(lo=AREA.hi, hi=AREA.lo)
        got, code, details, _, _ = stream(self.stub.ListFeatures(swapped, timeout=30))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(len(got), NAMED_FEATURES)

    def test_list_features_empty(self):
        empty = Rectangle(lo=Point(latitude=0, longitude=0), hi=Point(latitude=10, longitude=10))
        got, code, details, headers, _ = stream(self.stub.ListFeatures(empty, timeout=30))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(got, [])
        self.assertEqual(headers.get("x-feature-count"), "0")

    def test_list_features_bad_requests(self):
        got, code, details, _, trailers = stream(self.stub.ListFeatures(Rectangle(lo=AREA.lo),
                                                                        timeout=30))
        self.assertEqual((got, code), ([], grpc.StatusCode.INVALID_ARGUMENT))
        self.assertEqual(details, "hi is missing")
        self.assertEqual(bad_request(trailers, code, details), [("hi", details)])
        off = Rectangle(lo=Point(latitude=0, longitude=-1810000000), hi=AREA.hi)
        got, code, details, _, trailers = stream(self.stub.ListFeatures(off, timeout=30))
        self.assertEqual((got, code), ([], grpc.StatusCode.INVALID_ARGUMENT))
        self.assertEqual(bad_request(trailers, code, details), [("lo.longitude", details)])
        for pace in ("fast", "-1", "20000"):
            got, code, details, _, _ = stream(self.stub.ListFeatures(
                AREA, timeout=30, metadata=[("x-pace-ms", pace)]))
            self.assertEqual((got, code), ([], grpc.StatusCode.INVALID_ARGUMENT), pace)
            self.assertIn("x-pace-ms", details)

    def test_list_features_paced(self):
        t0 = time.monotonic()
        got, code, details, _, trailers = stream(self.stub.ListFeatures(
            AREA, timeout=30, metadata=[("x-pace-ms", "20")]))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(len(got), NAMED_FEATURES)
        self.assertGreaterEqual(time.monotonic() - t0, 0.02 * (NAMED_FEATURES - 1))
        self.assertNotIn("x-truncated", trailers)

    def test_list_features_deadline_budget(self):
        # 400 ms between features, 1 s to live: features at 0, 0.4 and 0.8 s, then 0.2 s
        # left, less than a pause: an early end with OK.
        got, code, details, _, trailers = stream(self.stub.ListFeatures(
            AREA, timeout=1.0, metadata=[("x-pace-ms", "400")]))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertGreaterEqual(len(got), 1)
        self.assertLess(len(got), NAMED_FEATURES)
        self.assertEqual(trailers.get("x-truncated"), "%d of %d sent" % (len(got), NAMED_FEATURES))

    def test_list_features_cancelled_in_sleep(self):
        mark = self.host.mark()
        call = self.stub.ListFeatures(AREA, timeout=30, metadata=[("x-pace-ms", "2000")])
        first = next(call)
        self.assertTrue(first.name)
        call.cancel()
        self.host.wait_log(lambda l: "msg=call" in l and "ListFeatures" in l
                           and "status=CANCELLED" in l, timeout=10, start=mark,
                           what="ListFeatures logged as CANCELLED")
        resp, code, details, _ = rpc(self.stub.GetFeature, KNOWN)
        self.assertEqual(code, grpc.StatusCode.OK, details)

    def test_sleeping_stream_holds_up_no_other_call(self):
        call = self.stub.ListFeatures(AREA, timeout=30, metadata=[("x-pace-ms", "2000")])
        next(call)
        t0 = time.monotonic()
        for _ in range(20):
            _, code, details, _ = rpc(self.stub.GetFeature, KNOWN)
            self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertLess(time.monotonic() - t0, 1.5)
        call.cancel()

    # --- RecordRoute: client streaming ---------------------------------------------------
    def test_record_route(self):
        route = [KNOWN, NOWHERE, UNNAMED, Point(latitude=407838351, longitude=-746143763)]
        resp, code, details, _ = rpc(self.stub.RecordRoute, iter(route))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.point_count, 4)
        self.assertEqual(resp.feature_count, 2)   # the unnamed place does not count
        expected = sum(meters(a, b) for a, b in zip(route, route[1:]))
        self.assertAlmostEqual(resp.distance, math.floor(expected), delta=1)
        self.assertEqual(resp.elapsed_time, 0)

    def test_record_route_elapsed_time(self):
        def slow():
            yield KNOWN
            time.sleep(1.1)
            yield KNOWN
        resp, code, details, _ = rpc(self.stub.RecordRoute, slow())
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual((resp.point_count, resp.feature_count, resp.distance), (2, 2, 0))
        self.assertGreaterEqual(resp.elapsed_time, 1)

    def test_record_route_empty(self):
        resp, code, details, _ = rpc(self.stub.RecordRoute, iter([]))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp, rg.RouteSummary())

    def test_record_route_bad_point(self):
        route = [KNOWN, Point(latitude=0, longitude=1900000000), KNOWN]
        _, code, details, trailers = rpc(self.stub.RecordRoute, iter(route))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(details, "point 2 (0.0000000, 190.0000000) is not on the globe")
        self.assertEqual(bad_request(trailers, code, details), [("longitude", details)])

    # --- RouteChat: bidirectional streaming ----------------------------------------------
    def test_route_chat(self):
        # The stock route_guide clients' notes.
        notes = [RouteNote(location=Point(latitude=0, longitude=i % 3 + 1), message=m)
                 for i, m in enumerate(["First message", "Second message", "Third message",
                                        "Fourth message", "Fifth message", "Sixth message"])]
        got, code, details, _, trailers = stream(self.stub.RouteChat(iter(notes), timeout=30))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual([n.message for n in got], ["First message", "Second message",
                                                    "Third message"])
        self.assertEqual([n.location.longitude for n in got], [1, 2, 3])
        self.assertEqual(trailers.get("x-notes-received"), "6")

    def test_route_chat_answers_as_notes_arrive(self):
        sent = []
        more = threading.Event()

        def notes():
            for i in range(3):
                sent.append(i)
                yield RouteNote(location=KNOWN, message="note %d" % i)
                more.wait(10)
                more.clear()

        call = self.stub.RouteChat(notes(), timeout=30)
        replies = []
        for _ in range(2):
            more.set()
            replies.append(next(call).message)
        more.set()
        rest, code, details, _, trailers = stream(call)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(replies + [n.message for n in rest], ["note 0", "note 0", "note 1"])
        self.assertEqual(trailers.get("x-notes-received"), "3")

    def test_route_chat_note_without_location(self):
        notes = [RouteNote(location=KNOWN, message="a"), RouteNote(message="nowhere")]
        got, code, details, _, trailers = stream(self.stub.RouteChat(iter(notes), timeout=30))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(details, "note 2 location is missing")
        self.assertEqual(got, [])
        self.assertEqual(trailers.get("x-notes-received"), "2",
                         "a trailer set after the error was caught goes out with the error")
        self.assertEqual(bad_request(trailers, code, details), [("location", details)],
                         "a re-raised grpc.error keeps its details")

    def test_route_chat_cancelled(self):
        gate = threading.Event()

        def notes():
            yield RouteNote(location=KNOWN, message="a")
            yield RouteNote(location=KNOWN, message="b")
            gate.wait(10)   # the handler waits in call:recv() meanwhile

        mark = self.host.mark()
        call = self.stub.RouteChat(notes(), timeout=30)
        self.assertEqual(next(call).message, "a")
        call.cancel()
        gate.set()
        self.host.wait_log(lambda l: "msg=call" in l and "RouteChat" in l
                           and "status=CANCELLED" in l, timeout=10, start=mark,
                           what="RouteChat logged as CANCELLED")
        wait_until(lambda: rpc(self.stub.GetFeature, KNOWN)[1] == grpc.StatusCode.OK, 5,
                   what="the host serving after a cancel")


class RouteGuideCheckTest(unittest.TestCase):
    def test_script_loads_cleanly(self):
        """The example passes --check beside greeter.lua and serves every method."""
        code, out = run_host_once(["--check", "--scripts", os.path.join(SOURCE_DIR, "scripts"),
                                   "--protoset", EXAMPLE_PROTOSET])
        self.assertEqual(code, 0, out)
        self.assertIn("routeguide.RouteGuide", out)
        for m in ("GetFeature", "ListFeatures", "RecordRoute", "RouteChat"):
            self.assertIn(m, out)
        self.assertNotIn("UNIMPLEMENTED", out)
        self.assertNotIn("level=warn", out)
        self.assertNotIn("level=error", out)


if __name__ == "__main__":
    unittest.main()
