# Result protocol for tests that are not Check suites (shell, rig, L2).
# Source it; each call prints one line that tests/run-tests counts:
#   OOH-RESULT PASS|FAIL|SKIP <name> [detail]
# Names have no spaces; detail is free text for a person.
ooh_pass() { echo "OOH-RESULT PASS $1${2:+ $2}"; }
ooh_fail() { echo "OOH-RESULT FAIL $1${2:+ $2}"; }
ooh_skip() { echo "OOH-RESULT SKIP $1${2:+ $2}"; }
