/*
 * The backoff after a failed try (at_backoff_delay): the steps, the cap at an eighth of the time left, the
 * CA's Retry-After, the test time scale; and the promise it exists for, played out on a clock: a 6-day
 * certificate whose CA is down from its renewal point for three days (less the last hour) is tried again
 * before it ends, without hammering the CA on the way.
 */
#include "engine/engine.h"
#include "tests/test.h"

#define DAY 86400L

static void steps_and_caps(void)
{
	time_t now = 1000000;
	/* no certificate in service: the plain steps */
	CHECK_INT(at_backoff_delay(0, now, 0, -1, 1), ==, 60);
	CHECK_INT(at_backoff_delay(1, now, 0, -1, 1), ==, 600);
	CHECK_INT(at_backoff_delay(2, now, 0, -1, 1), ==, 6000);
	CHECK_INT(at_backoff_delay(3, now, 0, -1, 1), ==, 86400);
	CHECK_INT(at_backoff_delay(40, now, 0, -1, 1), ==, 86400);
	/* 3 days left: at most 9 hours */
	CHECK_INT(at_backoff_delay(3, now, now + 3 * DAY, -1, 1), ==, 3 * DAY / 8);
	/* minutes left: never under a minute */
	CHECK_INT(at_backoff_delay(3, now, now + 120, -1, 1), ==, 60);
	/* the CA's Retry-After wins, and is not scaled */
	CHECK_INT(at_backoff_delay(0, now, now + 3 * DAY, 7200, 60), ==, 7200);
	/* the test scale */
	CHECK_INT(at_backoff_delay(1, now, 0, -1, 60), ==, 10);
	CHECK_INT(at_backoff_delay(0, now, 0, -1, 1000), ==, 1);
}

static void six_day_certificate_survives_three_day_outage(void)
{
	time_t nb = 1700000000, na = nb + 6 * DAY;
	time_t due = at_renewal_time(nb, na, 0, 0); /* half the lifetime: 3 days left */
	time_t back = due + 3 * DAY - 3600;         /* the CA answers again an hour before the end */
	time_t t = due;
	int failures = 0, tries = 0;
	long shortest = 1L << 30;
	CHECK_INT(due, ==, nb + 3 * DAY);
	while (t < back && t < na) {
		long d = at_backoff_delay(failures++, t, na, -1, 1);
		if (d < shortest)
			shortest = d;
		t += d;
		tries++;
	}
	/* the first try after the CA is back comes before the end, and soon after it is back */
	CHECK(t >= back);
	CHECK(t < na);
	CHECK_INT(t - back, <=, 3600 / 8 + 60);
	CHECK_INT(tries, <=, 40);     /* not hammering */
	CHECK_INT(shortest, >=, 60);

	/* The old rule (daily after the third failure) missed it: its last try before the end is over a day
	 * before the CA came back, its next after the end. */
	t = due;
	failures = 0;
	while (t < back && t < na)
		t += at_backoff_delay(failures++, t, 0, -1, 1);
	CHECK(t >= na);
}

int main(void)
{
	RUN(steps_and_caps);
	RUN(six_day_certificate_survives_three_day_outage);
	return TEST_EXIT();
}
