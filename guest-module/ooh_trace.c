// SPDX-License-Identifier: GPL-2.0
/*
 * The one file that instantiates ooh.ko's tracepoints (ooh_trace.h); the
 * others include the header for the trace_ooh_*() calls only.
 */
#define CREATE_TRACE_POINTS
#include "ooh_trace.h"
