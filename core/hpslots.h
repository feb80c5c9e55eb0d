/*
 * hpslots.h -- the roles of the fast hazard-pointer slots (struct
 * hazptr_thread.slot[]) as core/ uses them. A thread holds at most one
 * object per role at a time:
 *
 *	r = idmap_find(m, hp, id);                 r in HP_SLOT_REC
 *	hazptr_publish(hp, &hp->slot[HP_SLOT_ATTRS], at);
 *	...
 *	hazptr_release(hp, HP_SLOT_ATTRS);
 *	hazptr_release(hp, HP_SLOT_REC);
 *
 * table_find also uses HP_SLOT_ARR for the shard array while it searches.
 */
#ifndef TIMERD_HPSLOTS_H
#define TIMERD_HPSLOTS_H

#include "hazptr.h"

#define HP_SLOT_REC   0		/* a timer record (engine, idmap, table) */
#define HP_SLOT_ARR   1		/* a key table's array (table.c, during a lookup) */
#define HP_SLOT_ATTRS 2		/* a record's attributes (engine, dispatcher) */
#define HP_SLOTS_USED 3		/* roles above */

_Static_assert(HP_SLOTS_USED <= HAZPTR_SLOTS, "hazard slot roles exceed the fast slots");

#endif /* TIMERD_HPSLOTS_H */
