/* ahci_state.c — the AHCI controller's guest-visible state, described once for save and restore. */
#include "dev/ahci.h"
#include "util/state.h"

static void port_visit(struct state_visitor *v, struct ahci_port_state *p)
{
    STATE_U32(v, p->clb);
    STATE_U32(v, p->clbu);
    STATE_U32(v, p->fb);
    STATE_U32(v, p->fbu);
    STATE_U32(v, p->is);
    STATE_U32(v, p->ie);
    STATE_U32(v, p->cmd);
    STATE_U32(v, p->tfd);
    STATE_U32(v, p->sig);
    STATE_U32(v, p->ssts);
    STATE_U32(v, p->sctl);
    STATE_U32(v, p->serr);
    STATE_U32(v, p->sact);
    STATE_U32(v, p->ci);
    STATE_U32(v, p->sntf);
    STATE_BOOL(v, p->srst);
    STATE_U8_MAX(v, p->sense_key, 0xf);
    STATE_U8(v, p->asc);
    STATE_U8(v, p->ascq);
    STATE_U8(v, p->media_event);
    STATE_CHECK(v, p->media_event == 0 || p->media_event == 2 || p->media_event == 3);
    STATE_BOOL(v, p->ua);
    STATE_BOOL(v, p->locked);
    STATE_BOOL(v, p->media);
    /* registers only the HBA sets keep their shape */
    STATE_CHECK(v, (p->clb & 0x3ff) == 0 && (p->fb & 0xff) == 0);
    STATE_CHECK(v, (p->is & ~PX_IS_MASK) == 0 && (p->ie & ~PX_IS_MASK) == 0);
    STATE_CHECK(v, p->tfd <= 0xffff && p->sctl <= 0xfff);
    /* a paused controller has no command in flight: nothing is left to restart */
    STATE_CHECK(v, p->ci == 0 && p->sact == 0);
}

void ahci_state_visit(struct state_visitor *v, struct ahci_state *s)
{
    if (!state_begin(v, "ahci", AHCI_STATE_VERSION))
        return;
    STATE_U32(v, s->ghc);
    STATE_CHECK(v, (s->ghc & ~(AHCI_GHC_AE | AHCI_GHC_IE)) == 0 && (s->ghc & AHCI_GHC_AE));
    STATE_U32(v, s->is);
    STATE_CHECK(v, s->is < (1u << AHCI_PORTS));
    for (unsigned i = 0; i < AHCI_PORTS && !state_error(v); i++)
        port_visit(v, &s->port[i]);
    state_end(v);
}
