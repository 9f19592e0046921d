/* mam.h: what the archive module (XEP-0313) offers other archives
 * (the group chat room's). */
#ifndef TERN_MAM_H
#define TERN_MAM_H

struct store_item;
struct xml_node;

/* <message from=from><result queryid id><forwarded><delay/>item
 * </forwarded></result></message> for one stored item (XEP-0313 §4.2),
 * without 'to'; NULL if the stored item does not parse. */
struct xml_node *mam_result_message(
    const char *from, const char *qid, const struct store_item *it);

#endif
