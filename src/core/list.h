/* list.h - intrusive circular doubly-linked list. A node is linked iff next != NULL. */
#ifndef KL_LIST_H
#define KL_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kl_list {
    struct kl_list *next; /**< NULL when unlinked */
    struct kl_list *prev;
} kl_list_t;

/** The struct that contains the list node `ptr` as member `member`. */
#define kl_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/** Makes head an empty list. */
static inline void kl_list_init(kl_list_t *head) { head->next = head->prev = head; }
/** True when the list headed by head has no nodes. */
static inline bool kl_list_empty(const kl_list_t *head) { return head->next == head; }
/** True when node is on some list. */
static inline bool kl_list_linked(const kl_list_t *node) { return node->next != NULL; }

/** Appends node (unlinked) at the tail of head. */
static inline void kl_list_push(kl_list_t *head, kl_list_t *node) {
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

/** Inserts node (unlinked) at the head of head. */
static inline void kl_list_unshift(kl_list_t *head, kl_list_t *node) {
    node->next = head->next;
    node->prev = head;
    head->next->prev = node;
    head->next = node;
}

/** Unlinks node if linked; safe to call twice. */
static inline void kl_list_remove(kl_list_t *node) {
    if (!node->next) return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node->prev = NULL;
}

/** Removes and returns the first node, or NULL when empty. */
static inline kl_list_t *kl_list_shift(kl_list_t *head) {
    if (kl_list_empty(head)) return NULL;
    kl_list_t *n = head->next;
    kl_list_remove(n);
    return n;
}

#endif
