/*
 * ui — the full-screen terminal interface (ncursesw). Owner: the TUI
 * engineer. Like cmd/, this layer may print, read the terminal and keep
 * process state; the real work stays in core/.
 *
 *   tui.c       ui_run: set-up, the main loop (poll on the terminal, the
 *               worker's wake pipe and the check timer), screen dispatch,
 *               the index screen, folder switching, status bar
 *   keymap.c    actions, default mutt-like bindings, key names, `bind`
 *               lines, the generated help text
 *   text.c      untrusted UTF-8 -> safe wide text cut to terminal columns
 *               (wcwidth: CJK double width, combining marks), wrapping
 *   thread.c    threads from Message-ID / In-Reply-To / References
 *   model.c     the rows of one folder (one light index scan), sort,
 *               threads, collapse, limit and search over them
 *   draw.c      curses set-up, colours (`color` lines, NO_COLOR), drawing
 *               primitives, the prompt line editor with completion
 *   pager.c     one message: render (core/mime), wrap, colour, search;
 *               the attachment list and safe saving
 *   compose.c   new mail, reply, group reply, forward: the draft file,
 *               $VISUAL/$EDITOR, the review screen, building the message
 *   worker.c    the one thread that uses the network and writes the
 *               index: sync, flag changes, deletes, moves, sending
 *
 * Threads: the UI thread reads the account's index through its own
 * handle; everything that talks to a server or writes runs in the worker
 * thread, which owns every core/account object. Results come back through
 * a queue and a wake-up pipe, so the screen never waits on the network.
 */
#ifndef TERN_UI_LIB_H
#define TERN_UI_LIB_H

#include "core/base/lib.h"
#include "core/config/lib.h"

struct ui_opts {
    const struct tern_config *cfg;      /* borrowed */
    const struct tern_account *account; /* borrowed; which account to show */
};

/* Run the interface on the terminal until the user quits. Returns TERN_OK,
 * or the failure that stopped it (terminal unusable, out of memory) with
 * err set; the terminal is restored before it returns. TERN_ECANCELED: the
 * user left (Ctrl-C) while the network thread was still busy; it still
 * uses o's config, so the caller must end the process at once (_exit)
 * without freeing anything. */
enum tern_rc ui_run(const struct ui_opts *o, struct tern_err *err);

#endif
