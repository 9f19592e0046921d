/* mod.h: everything a module may use. A module includes this and the
 * headers of modules it lists as dependencies, nothing else. */
#ifndef TERN_MOD_H
#define TERN_MOD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/hook.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/module.h"
#include "core/util.h"
#include "jid/jid.h"
#include "net/http.h"
#include "store/store.h"
#include "xml/xml.h"
#include "xmpp/acct_cache.h"
#include "xmpp/router.h"
#include "xmpp/session.h"

#endif
