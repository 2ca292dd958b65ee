/* The monotonic clock in milliseconds, for deadlines and waits (never the time of day). */
#ifndef AUTOTLS_UTIL_CLOCK_H
#define AUTOTLS_UTIL_CLOCK_H

long at_clock_ms(void);
/* The same in microseconds, for waits measured in fractions of a millisecond. */
long at_clock_us(void);

#endif
