#include "http/offload.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* Jobs waiting beyond this are refused with 503: better a quick "try again" than a login that
 * answers after the client has given up. At ~30 ms a hash on 2 threads, 256 is about 4 s. */
enum { QUEUE_MAX = 256, THREADS_MAX = 16 };

struct job {
    h2o_multithread_message_t message; /* first: the receiver gets this pointer back */
    h2o_multithread_receiver_t *receiver;
    struct call call;
    char param[64];
    struct job **guard; /* lives in the request's pool; cleared when the request goes */
    offload_work_fn work;
    offload_done_fn done;
    offload_release_fn release;
    void *arg;
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *head, *tail;
    int queued;
    bool stopping;
    pthread_t threads[THREADS_MAX];
    int n_threads;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local h2o_multithread_receiver_t *receiver;

static void *
hashing_thread(void *unused)
{
    (void)unused;
    for (;;) {
        struct job *job;

        pthread_mutex_lock(&pool.lock);
        while (pool.head == NULL && !pool.stopping)
            pthread_cond_wait(&pool.wake, &pool.lock);
        if (pool.stopping) {
            pthread_mutex_unlock(&pool.lock);
            return NULL;
        }
        job = pool.head;
        pool.head = job->next;
        if (pool.head == NULL)
            pool.tail = NULL;
        pool.queued--;
        pthread_mutex_unlock(&pool.lock);

        job->work(job->arg);
        h2o_multithread_send_message(job->receiver, &job->message);
    }
}

/* On the loop: answer the requests whose work is done, unless their client left. */
static void
on_results(h2o_multithread_receiver_t *r, h2o_linklist_t *messages)
{
    (void)r;
    while (!h2o_linklist_is_empty(messages)) {
        struct job *job = (struct job *)messages->next;

        h2o_linklist_unlink(&job->message.link);
        if (job->call.req != NULL) {
            *job->guard = NULL;
            job->done(&job->call, job->arg);
        }
        job->release(job->arg);
        free(job);
    }
}

/* Runs when the request's pool is freed: its client is gone, or it was answered. */
static void
on_request_gone(void *guard)
{
    struct job *job = *(struct job **)guard;

    if (job != NULL)
        job->call.req = NULL;
}

int
offload_start(int threads)
{
    if (threads > THREADS_MAX)
        threads = THREADS_MAX;
    for (; pool.n_threads < threads; pool.n_threads++) {
        if (pthread_create(&pool.threads[pool.n_threads], NULL, hashing_thread, NULL) != 0)
            break;
    }
    return pool.n_threads > 0 ? 0 : -1;
}

void
offload_stop(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.n_threads; i++)
        pthread_join(pool.threads[i], NULL);
    pool.n_threads = 0;
}

void
offload_attach(h2o_context_t *ctx)
{
    receiver = calloc(1, sizeof(*receiver));
    if (receiver == NULL)
        abort();
    h2o_multithread_register_receiver(ctx->queue, receiver, on_results);
}

void
offload_detach(h2o_context_t *ctx)
{
    h2o_multithread_unregister_receiver(ctx->queue, receiver);
    free(receiver);
    receiver = NULL;
}

bool
offload_submit(struct call *c, offload_work_fn work, offload_done_fn done,
               offload_release_fn release, void *arg)
{
    struct job *job = calloc(1, sizeof(*job));
    bool queued = false;

    if (job == NULL)
        return false;
    *job = (struct job){.receiver = receiver,
                        .call = *c,
                        .work = work,
                        .done = done,
                        .release = release,
                        .arg = arg};
    if (c->param != NULL) {
        snprintf(job->param, sizeof(job->param), "%s", c->param);
        job->call.param = job->param;
    }

    /* The guard is in the request's pool, so h2o tells us when the request is gone. */
    job->guard = h2o_mem_alloc_shared(&c->req->pool, sizeof(*job->guard), on_request_gone);
    *job->guard = job;

    pthread_mutex_lock(&pool.lock);
    if (pool.queued < QUEUE_MAX && !pool.stopping) {
        if (pool.tail != NULL)
            pool.tail->next = job;
        else
            pool.head = job;
        pool.tail = job;
        pool.queued++;
        queued = true;
        pthread_cond_signal(&pool.wake);
    }
    pthread_mutex_unlock(&pool.lock);

    if (!queued) {
        log_warning("offload", "password hashing queue is full (%d waiting); answering 503",
                    QUEUE_MAX);
        *job->guard = NULL;
        free(job);
    }
    return queued;
}
