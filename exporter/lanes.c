/* SPDX-License-Identifier: MIT */
#include "lanes.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#define LANE_STACK_SIZE (512u << 10)

struct lane {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct lane_task *head, *tail;
	size_t queued; /* waiting or running */
	bool started;
};

static struct lane lanes[LANES_MAX];
static pthread_once_t lanes_once = PTHREAD_ONCE_INIT;

static void lanes_init(void)
{
	for (size_t i = 0; i < LANES_MAX; i++) {
		pthread_mutex_init(&lanes[i].lock, NULL);
		pthread_cond_init(&lanes[i].work, NULL);
	}
}

/* The lane's thread: runs tasks in order, forever (it ends with the process). */
static void *lane_main(void *p)
{
	struct lane *l = p;

	for (;;) {
		struct lane_task *t;

		pthread_mutex_lock(&l->lock);
		while (!l->head)
			pthread_cond_wait(&l->work, &l->lock);
		t = l->head;
		l->head = t->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&l->lock);
		t->run(t);
		pthread_mutex_lock(&l->lock);
		l->queued--;
		pthread_mutex_unlock(&l->lock);
	}
	return NULL;
}

static int start_thread(struct lane *l)
{
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, LANE_STACK_SIZE);
	err = pthread_create(&tid, &attr, lane_main, l);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	l->started = true;
	return 0;
}

int lanes_submit(size_t lane, struct lane_task *task)
{
	struct lane *l;
	int err = 0;

	if (lane >= LANES_MAX)
		return -EINVAL;
	pthread_once(&lanes_once, lanes_init);
	l = &lanes[lane];
	pthread_mutex_lock(&l->lock);
	if (l->queued >= LANE_QUEUE_MAX)
		err = -EBUSY;
	else if (!l->started)
		err = start_thread(l);
	if (err == 0) {
		task->next = NULL;
		if (l->tail)
			l->tail->next = task;
		else
			l->head = task;
		l->tail = task;
		l->queued++;
		pthread_cond_signal(&l->work);
	}
	pthread_mutex_unlock(&l->lock);
	return err;
}
