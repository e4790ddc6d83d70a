"""RFC 9111 §4.2 (freshness: s-maxage > max-age > Expires - Date > heuristic
> default_ttl, age calculation) and the request directives of §5.2.1
(max-age, min-fresh, max-stale, only-if-cached, no-cache).

Timing: max-age=1 entries are stale after a 1.3 s sleep (age >= 1 s even if
relay rounds down); "fresh" assertions use lifetimes of 30 s or more."""
import time
import unittest

from harness import RelayTestCase, http_date, parse_http_date, request_header, wait_until, target_for as T

LONG_AGO = 1_000_000_000  # a Last-Modified in 2001
STALE_SLEEP = 1.3         # makes a max-age=1 entry stale


class FreshnessTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"default_ttl": "0s"}}

    def miss(self, target, headers=None):
        r = self.get(target, headers=headers)
        self.assertXCache(r, "MISS")
        return r

    def test_s_maxage_beats_max_age(self):
        long_s = T("/fr/smax/long", cc="max-age=1, s-maxage=60")
        short_s = T("/fr/smax/short", cc="max-age=60, s-maxage=1")
        self.miss(long_s)
        self.miss(short_s)
        time.sleep(STALE_SLEEP)
        r = self.get(long_s)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(50, 59))
        r = self.get(short_s)
        self.assertXCache(r, "EXPIRED")
        self.assertCacheStatus(r, fwd="stale", fwd_status=200, stored=True)
        self.assertEqual(self.origin.count("/fr/smax/long"), 1)
        self.assertEqual(self.origin.count("/fr/smax/short"), 2)

    def test_max_age_beats_expires(self):
        past = T("/fr/maxexp/past", cc="max-age=60", expires=-100)
        future = T("/fr/maxexp/future", cc="max-age=1", expires=3600)
        self.miss(past)
        self.miss(future)
        self.assertXCache(self.get(past), "HIT")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(future), "EXPIRED")
        self.assertEqual(self.origin.count("/fr/maxexp/past"), 1)
        self.assertEqual(self.origin.count("/fr/maxexp/future"), 2)

    def test_expires_minus_date(self):
        t = T("/fr/expires", expires=60)
        self.miss(t)
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(55, 60))
        self.assertEqual(self.origin.count("/fr/expires"), 1)

    def test_apparent_age_from_an_old_date(self):
        # §4.2.3: Date 100 s in the past, Expires = Date + 160: lifetime 160,
        # age >= 100 on arrival, so about 60 s of freshness are left.
        t = T("/fr/olddate", date_ago=100, expires=160)
        self.miss(t)
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertTrue((r.header("Age") or "").isdigit(), "Age=%r" % r.header("Age"))
        self.assertGreaterEqual(int(r.header("Age")), 100)
        self.assertCacheStatus(r, hit=True, ttl=(50, 60))

    def test_expires_in_the_past_is_stored_but_stale(self):
        t = T("/fr/exppast", expires=-10)
        first = self.miss(t)
        self.assertCacheStatus(first, stored=True)
        r = self.get(t)
        self.assertXCache(r, "EXPIRED")
        self.assertCacheStatus(r, fwd="stale", fwd_status=200)
        self.assertEqual(self.origin.count("/fr/exppast"), 2)

    def test_invalid_expires_is_stale_at_once(self):
        # §5.3: an invalid Expires (notably "0") means "already expired".
        for name, value in (("zero", "0"), ("garbage", "not a date")):
            with self.subTest(expires=value):
                path = "/fr/expinvalid/" + name
                t = T(path, hdr="Expires: " + value)
                self.miss(t)
                self.assertXCache(self.get(t), "EXPIRED")
                self.assertEqual(self.origin.count(path), 2)

    def test_heuristic_freshness_is_ten_percent_of_last_modified_age(self):
        # Last-Modified 10 hours before Date: fresh for 1 hour.
        t = T("/fr/heur", lm_ago=36000)
        self.miss(t)
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(3590, 3600))
        self.assertEqual(self.origin.count("/fr/heur"), 1)

    def test_heuristic_freshness_is_capped_by_heuristic_max(self):
        t = T("/fr/heurcap", lm=LONG_AGO)  # 10% of 25 years, capped at 1 day
        self.miss(t)
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(86390, 86400))

    def test_multiple_cache_control_lines_are_combined(self):
        t = T("/fr/cclines/store", hdr=["Cache-Control: public", "Cache-Control: max-age=60"])
        self.miss(t)
        self.assertXCache(self.get(t), "HIT")
        self.assertEqual(self.origin.count("/fr/cclines/store"), 1)
        t = T("/fr/cclines/nostore", hdr=["Cache-Control: max-age=60", "Cache-Control: no-store"])
        for _ in range(2):
            self.assertXCache(self.get(t), "BYPASS")
        self.assertEqual(self.origin.count("/fr/cclines/nostore"), 2)

    def test_duplicate_max_age_first_wins(self):
        long_first = T("/fr/dup/long", cc="max-age=60, max-age=1")
        short_first = T("/fr/dup/short", hdr=["Cache-Control: max-age=1",
                                              "Cache-Control: max-age=60"])
        self.miss(long_first)
        self.miss(short_first)
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(long_first), "HIT")
        self.assertXCache(self.get(short_first), "EXPIRED")

    def test_immutable_does_not_extend_freshness(self):
        fresh = T("/fr/immutable/fresh", cc="max-age=60, immutable")
        short = T("/fr/immutable/short", cc="max-age=1, immutable")
        self.miss(fresh)
        self.miss(short)
        self.assertXCache(self.get(fresh), "HIT")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(short), "EXPIRED")
        self.assertEqual(self.origin.count("/fr/immutable/short"), 2)

    # -- request directives (§5.2.1) ------------------------------------------

    def test_request_max_age(self):
        t = T("/fr/reqmaxage/a", cc="max-age=60")
        old = T("/fr/reqmaxage/b", cc="max-age=60")
        self.miss(t)
        self.miss(old)
        self.assertXCache(self.get(t, headers={"Cache-Control": "max-age=30"}), "HIT")
        r = self.get(t, headers={"Cache-Control": "max-age=0"})
        self.assertXCache(r, "EXPIRED")
        self.assertCacheStatus(r, fwd="request", fwd_status=200)
        self.assertEqual(self.origin.count("/fr/reqmaxage/a"), 2)
        time.sleep(2.2)  # age >= 2
        self.assertXCache(self.get(old, headers={"Cache-Control": "max-age=30"}), "HIT")
        r = self.get(old, headers={"Cache-Control": "max-age=1"})
        self.assertXCache(r, "EXPIRED")
        self.assertCacheStatus(r, fwd="request", fwd_status=200)
        self.assertEqual(self.origin.count("/fr/reqmaxage/b"), 2)

    def test_request_min_fresh(self):
        t = T("/fr/minfresh", cc="max-age=30")
        self.miss(t)
        self.assertXCache(self.get(t, headers={"Cache-Control": "min-fresh=5"}), "HIT")
        self.assertEqual(self.origin.count("/fr/minfresh"), 1)
        r = self.get(t, headers={"Cache-Control": "min-fresh=60"})
        self.assertXCache(r, "EXPIRED")
        self.assertCacheStatus(r, fwd="request", fwd_status=200)
        self.assertEqual(self.origin.count("/fr/minfresh"), 2)

    def test_request_no_cache_goes_to_origin(self):
        t = T("/fr/reqnocache", cc="max-age=60")
        self.miss(t)
        for headers in ({"Cache-Control": "no-cache"}, {"Pragma": "no-cache"}):
            r = self.get(t, headers=headers)
            self.assertXCache(r, "EXPIRED")
            self.assertCacheStatus(r, fwd="request", fwd_status=200)
        self.assertEqual(self.origin.count("/fr/reqnocache"), 3)
        self.assertXCache(self.get(t), "HIT")

    def test_request_max_stale_serves_stale_without_origin(self):
        t = T("/fr/maxstale/plain", cc="max-age=1", size=77)
        mr = T("/fr/maxstale/mustreval", cc="max-age=1, must-revalidate")
        self.miss(t)
        self.miss(mr)
        time.sleep(STALE_SLEEP)
        for value in ("max-stale=60", "max-stale"):
            r = self.get(t, headers={"Cache-Control": value})
            self.assertEqual(r.status, 200)
            self.assertXCache(r, "STALE")
            self.assertBody(r, "/fr/maxstale/plain", 77)
            self.assertCacheStatus(r, hit=True, fwd=self.ABSENT, ttl=(-60, 0))
        self.assertEqual(self.origin.count("/fr/maxstale/plain"), 1)
        self.assertXCache(self.get(t), "EXPIRED")
        self.assertEqual(self.origin.count("/fr/maxstale/plain"), 2)
        # must-revalidate (§5.2.2.2) beats the client's max-stale.
        self.assertXCache(self.get(mr, headers={"Cache-Control": "max-stale=60"}), "EXPIRED")
        self.assertEqual(self.origin.count("/fr/maxstale/mustreval"), 2)

    def test_only_if_cached(self):
        oic = {"Cache-Control": "only-if-cached"}
        r = self.get(T("/fr/oic/none", cc="max-age=60"), headers=oic)
        self.assertEqual(r.status, 504)
        self.assertEqual(self.origin.count("/fr/oic/none"), 0)
        fresh = T("/fr/oic/fresh", cc="max-age=60", size=33)
        stale = T("/fr/oic/stale", cc="max-age=1", size=33)
        self.miss(fresh)
        self.miss(stale)
        r = self.get(fresh, headers=oic)
        self.assertEqual(r.status, 200)
        self.assertXCache(r, "HIT")
        self.assertBody(r, "/fr/oic/fresh", 33)
        time.sleep(STALE_SLEEP)
        self.assertEqual(self.get(stale, headers=oic).status, 504)
        r = self.get(stale, headers={"Cache-Control": "only-if-cached, max-stale=60"})
        self.assertEqual(r.status, 200)
        self.assertXCache(r, "STALE")
        self.assertBody(r, "/fr/oic/stale", 33)
        self.assertEqual(self.origin.count("/fr/oic/fresh"), 1)
        self.assertEqual(self.origin.count("/fr/oic/stale"), 1)


class HttpDateTest(RelayTestCase):
    """RFC 9110 §5.6.7 HTTP-date as relay reads it, §6.6.1 Date replacement,
    and times past the clock's range (years after 2262)."""

    def test_invalid_date_is_replaced_by_the_receipt_time(self):
        # §6.6.1: an invalid Date is replaced by the time the response was
        # received, so Expires - Date is a lifetime again instead of 0.
        path = "/hd/invalid"
        self.script(path, {"no_date": True, "headers": [["Date", "not a date"],
                                                        ["Expires", http_date(time.time() + 60)]]})
        first = self.get(path)
        self.assertXCache(first, "MISS")
        received = parse_http_date(first.header("Date") or "")
        self.assertIsNotNone(received, "Date %r is not an HTTP-date" % first.header("Date"))
        self.assertLess(abs(received - time.time()), 5)
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(50, 60))
        self.assertEqual(r.header("Date"), first.header("Date"))
        self.assertEqual(self.origin.count(path), 1)

    def test_runs_of_spaces_make_a_date_invalid(self):
        # An hour-old Date with a doubled space is no HTTP-date: it is
        # replaced, so the response is not an hour old on arrival.
        path = "/hd/spaces"
        old = http_date(time.time() - 3600).replace(", ", ",  ", 1)
        self.script(path, {"no_date": True, "headers": [["Date", old], ["Cache-Control", "max-age=60"]]})
        first = self.get(path)
        self.assertXCache(first, "MISS")
        self.assertNotEqual(first.header("Date"), old)
        r = self.get(path)
        self.assertXCache(r, "HIT")
        self.assertLess(int(r.header("Age")), 10)
        self.assertEqual(self.origin.count(path), 1)

    def test_zone_name_is_case_insensitive(self):
        t = T("/hd/gmt", hdr="Expires: " + http_date(time.time() + 60).replace("GMT", "gmt"))
        self.assertXCache(self.get(t), "MISS")
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(50, 60))
        self.assertEqual(self.origin.count("/hd/gmt"), 1)

    def test_background_revalidation_replaces_an_invalid_date_too(self):
        # The response of a stale-while-revalidate fetch goes through the same
        # step: its unparsable Date does not make the new copy stale at once.
        path = "/hd/swr"
        self.script(path,
                    {"headers": [["Cache-Control", "max-age=1, stale-while-revalidate=30"]]},
                    {"no_date": True, "headers": [["Date", "yesterday"],
                                                  ["Expires", http_date(time.time() + 60)]]})
        self.assertXCache(self.get(path), "MISS")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(path), "STALE")
        wait_until(lambda: self.origin.count(path) == 2, 5, what="the background revalidation")
        r = wait_for_hit(self, path)
        self.assertCacheStatus(r, hit=True, ttl=(40, 60))
        self.assertIsNotNone(parse_http_date(r.header("Date") or ""), "Date %r" % r.header("Date"))
        self.assertEqual(self.origin.count(path), 2)

    def test_expires_past_2262_is_stored_and_found(self):
        # The clock ends in April 2262: a later Expires saturates instead of
        # wrapping, so an entry reported stored is found again.
        for year in ("2300", "9999"):
            with self.subTest(year=year):
                path = "/hd/far/" + year
                t = T(path, hdr="Expires: Sat, 01 Jan %s 00:00:00 GMT" % year)
                first = self.get(t)
                self.assertXCache(first, "MISS")
                self.assertCacheStatus(first, stored=True)
                r = self.get(t)
                self.assertXCache(r, "HIT")
                self.assertCacheStatus(r, hit=True, ttl=(200 * 365 * 86400, 2 ** 63))
                self.assertEqual(self.origin.count(path), 1)


def wait_for_hit(case, target, timeout=5.0):
    """GET target until it is a HIT (the background fill may still be
    committing); returns that response."""
    deadline = time.time() + timeout
    while True:
        r = case.get(target)
        if r.header("X-Cache") == "HIT" or time.time() > deadline:
            case.assertXCache(r, "HIT")
            return r
        time.sleep(0.05)


class DefaultTtlFreshnessTest(RelayTestCase):
    """default_ttl is used only when the response has no explicit and no
    heuristic freshness."""
    RELAY_CONFIG = {"cache": {"default_ttl": "60s"}}

    def test_default_ttl_applies_without_freshness_information(self):
        t = T("/dt/none")
        self.assertXCache(self.get(t), "MISS")
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(55, 60))

    def test_explicit_max_age_is_not_extended(self):
        t = T("/dt/short", cc="max-age=1")
        self.assertXCache(self.get(t), "MISS")
        time.sleep(STALE_SLEEP)
        self.assertXCache(self.get(t), "EXPIRED")
        self.assertEqual(self.origin.count("/dt/short"), 2)

    def test_expires_in_the_past_is_not_overridden(self):
        t = T("/dt/exppast", expires=-10)
        self.assertXCache(self.get(t), "MISS")
        self.assertXCache(self.get(t), "EXPIRED")
        self.assertEqual(self.origin.count("/dt/exppast"), 2)

    def test_heuristic_beats_default_ttl(self):
        t = T("/dt/heur", lm_ago=36000)
        self.assertXCache(self.get(t), "MISS")
        r = self.get(t)
        self.assertXCache(r, "HIT")
        self.assertCacheStatus(r, hit=True, ttl=(3590, 3600))


class HeuristicMaxTest(RelayTestCase):
    RELAY_CONFIG = {"cache": {"heuristic_max": "1s"}}

    def test_heuristic_capped_then_revalidated_with_if_modified_since(self):
        t = T("/hm/capped", lm=LONG_AGO)
        first = self.get(t)
        self.assertXCache(first, "MISS")
        self.assertCacheStatus(first, stored=True)
        time.sleep(STALE_SLEEP)
        r = self.get(t)
        self.assertXCache(r, "REVALIDATED")
        self.assertEqual(len(r.body), 100)
        reqs = self.origin.requests("/hm/capped")
        self.assertEqual(len(reqs), 2)
        ims = request_header(reqs[1], "If-Modified-Since")
        self.assertIsNotNone(ims, "no If-Modified-Since in %r" % reqs[1]["headers"])
        self.assertEqual(parse_http_date(ims), LONG_AGO)
        self.assertEqual(reqs[1]["status"], 304)


if __name__ == "__main__":
    unittest.main()
