/*
 * The lock a challenge solver's caller holds, for tests that drive the solvers of challenge/ directly: the
 * test's thread holds it the way the shim's manager thread holds its quiesce lock, and the solvers' wait hooks
 * (challenge/wait_hooks.h) release it around every wait and take it back after. A hook called out of turn (a
 * release without the lock, a take while holding it) aborts the test with a message, so an unpaired hook in a
 * solver fails the test instead of hanging the manager.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SOLVER_LOCK_H
#define AUTOTLS_TESTS_HARNESS_SOLVER_LOCK_H

/* Takes the lock and installs the wait hooks. */
void harness_solver_lock_hold(void);
/* Removes the hooks and releases the lock. */
void harness_solver_lock_drop(void);

#endif
