"""Redis bucket storage of the LSH index: the buckets as Redis sets, the robustness in Lua.

:class:`RedisBuckets` is the storage backend that :class:`recall.redis_store.RedisLSHStore` (an
LSH index) keeps its buckets in. It stores and fetches; it never scores or votes: a query batch's
candidates (every member of the buckets its keys name, with those buckets' keys and the vectors)
are loaded into the LSH index's in-memory tables and searched by the same compiled kernel as a
local index (:mod:`recall.lsh.kernels`), so the voting rule and the re-rank exist once.

:class:`RedisBuckets` is put together from one module per job: ``redis_codec`` (key layout,
format tag, array codecs), ``redis_base`` (connect, metadata, guards' messages, local vectors,
script calls), ``redis_writes`` (build, add, update, delete), ``redis_query`` (``gather``: a
batch's buckets in one round trip per chunk), ``redis_verify`` (``verify``, ``bucket_sizes``),
with the Lua scripts in ``redis_lua``.

Everything of one store lives under the prefix ``{<namespace>:v<version>}:`` (the braces are a
Redis Cluster hash tag: all keys of one store share a slot, so the multi-key scripts of
``redis_lua`` also run on a cluster), so several stores and versions share a server without
meeting:

==============================  =========  ================================================
key                             type       content
==============================  =========  ================================================
``P:meta``                      HASH       format tag, hasher kind and fingerprint, metric,
                                           dim, n_tables, vector storage mode, ``complete``
                                           ("1" once a build finished; "0" and a ``building``
                                           token while one runs), ``expected`` items
``P:hasher``                    HASH       the hash functions: array name -> ``.npy`` bytes
                                           (``hasher.to_arrays()``), never users' buckets
``P:b:<t>:<key>``               SET        inverted index: ids of the items in bucket
                                           ``key`` (16 hex digits of the uint64) of table t
``P:keys``                      HASH       item id -> its L bucket keys (16 hex digits each,
                                           table order), so items can be moved or deleted
``P:vec``                       HASH       item id -> prepared vector, float32 little-endian
                                           bytes (``vectors="redis"`` and ``"buckets"``)
``P:r:<t>:<key>``               STRING     ``vectors="buckets"`` only: the records of bucket
                                           ``key`` of table t, one per member: id (int64)
                                           then its vector (float32), little-endian
==============================  =========  ================================================

Ids are stored as decimal strings (Redis keeps small integer sets in its compact ``intset``).
:meth:`RedisBuckets.gather` runs one Lua script per query (one round trip for a single query;
pipelined over a batch): it checks the guard and returns, in one atomic snapshot, the members of
each of the query's L buckets, the vectors of their union and the store's size (five values per
query); the client turns the batch's replies into a small table (members, their bucket keys in
the probed tables, vectors). Fetching the candidates' vectors one by one is most of that script's
time (about 2 us each, ~930 per query in ``reports/redis``); with ``vectors="buckets"`` the query
script instead reads the L record strings (one ``GET`` each: the members and their vectors) and
the store's size, at the price of L more copies of the vectors in Redis. The scripts are in
:mod:`recall.lsh.redis_lua`.

Writes keep both directions consistent: ``add`` / ``update`` / ``delete`` run a Lua script per
chunk which first checks every id of the chunk (new for ``add``, present for ``update`` /
``delete``) and only then moves the items between bucket sets and rewrites their bucket lists and
vectors, so a chunk is applied entirely or not at all. Ids are checked for the whole call before
the first chunk is sent. ``build`` bulk-loads with the same script, several chunks per pipelined
round trip (or, ``bulk="transaction"``, one ``MULTI``/``EXEC`` pipeline of grouped ``SADD`` s per
chunk).

At connect time the stored hash functions are loaded; if a hasher is passed as well, its
``fingerprint()`` must equal the stored one, otherwise ``ValueError`` — a store is never queried
with hash functions other than those its buckets were built with. The check is repeated *inside*
every write script and every query script (atomically, against ``P:meta``): a client whose hash
functions differ from the stored ones — a second writer with another hasher, or a writer that
outlived a drop-and-rebuild by another process — has every write refused, so no item is ever
filed under buckets of other hash functions. ``verify`` re-hashes the stored vectors with the
stored hash functions and reports items that are not in the buckets their vectors hash to.

A build becomes visible only when complete: ``build`` writes the metadata with ``complete=0`` and
a build token, loads the chunks (each write checks the token), then flips ``complete`` to 1. A
client refuses to connect to an incomplete store (a killed build) with a ``ValueError`` saying
how far it got; ``RedisLSHStore(client, hasher, ...).build(vectors, ids, resume=True)`` with the
same hasher and ids finishes it, ``build(...)`` starts over, ``drop()`` removes it. Queries of a
client connected before a rebuild started are refused until the store is complete again.
"""

from __future__ import annotations

from recall.lsh.redis_codec import STORE_FORMAT_TAG
from recall.lsh.redis_codec import _unprobed_keys as _unprobed_keys  # its former home: tests
from recall.lsh.redis_query import _Query
from recall.lsh.redis_verify import _Verify
from recall.lsh.redis_writes import _Writes

__all__ = ["RedisBuckets", "STORE_FORMAT_TAG"]


class RedisBuckets(_Writes, _Query, _Verify):
    """The buckets of one LSH store in Redis (see the module docstring for layout and guards).

    Args:
        client: a ``redis.Redis`` client (``decode_responses=False``) or a ``redis://`` URL.
        hasher: an ``E2LSHHasher`` / ``SimHashHasher``. Required to create a new store; for an
            existing one optional (the stored one is used) and, if given, it must have the stored
            fingerprint (``ValueError`` otherwise).
        namespace, version: the key prefix ``{namespace:v<version>}:``.
        metric: recorded with the store; a client of another metric is refused.
        vectors: ``"redis"`` keeps the re-rank vectors in Redis; ``"local"`` in this process only
            (a new client must call :meth:`attach_vectors`); ``"buckets"`` in Redis and, as
            records, beside every bucket (one read per table on query; L copies). Must match the store.
        chunk_size: items per script call on writes; queries per pipeline on :meth:`gather`.
        incomplete: ``"raise"`` (connecting to an unfinished build is a ``ValueError``) or
            ``"allow"`` (only to finish it with ``build(..., resume=True)``, rebuild or drop it).

    Vectors passed to the write methods are *prepared* (unit-normalised for cosine) by the index.
    """
