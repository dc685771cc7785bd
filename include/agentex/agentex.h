/*
 * agentex/agentex.h - the umbrella header of libagentex, an embeddable C SDK for
 * writing Agentex agents.  Link with `pkg-config --cflags --libs agentex`.
 * See agentex(3).
 */
#ifndef AGENTEX_AGENTEX_H
#define AGENTEX_AGENTEX_H

#include "common.h"
#include "version.h"
#include "types.h"
#include "client.h"
#include "messages.h"
#include "events.h"
#include "state.h"
#include "tracker.h"
#include "tasks.h"
#include "streaming.h"
#include "rpc.h"
#include "acp.h"

#endif
