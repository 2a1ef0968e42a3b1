<?php
// What a MySQL session cycle costs by the shape of its statements alone, with no session module
// and no handler around them: mysqli (libmysqlclient's C protocol code, the leanest PHP client)
// runs each shape in a loop over the benchmark's own table layout, on the server the benchmark
// uses. The shapes are cannon's own (unlocked: a prepared SELECT and a prepared upsert; locked:
// two text multi-statements) and, for comparison, a locked cycle of four prepared statements.
// The loops are interleaved in short blocks, so drift falls on every shape alike; medians.

declare(strict_types=1);

const SHAPES_TABLE = 'bench_shapes';

/**
 * µs per cycle for each shape (null when mysqli is missing or the server refuses), as
 * ['unlocked_prepared_2rt' => µs, 'locked_text_2rt' => µs, 'locked_prepared_4rt' => µs].
 */
function mysql_shapes(array $m, int $blocks = 15, int $perBlock = 200): array
{
    $none = ['unlocked_prepared_2rt' => null, 'locked_text_2rt' => null, 'locked_prepared_4rt' => null];
    if (!class_exists('mysqli')) {
        return $none;
    }
    mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
    try {
        $db = new mysqli($m['host'], $m['user'], $m['pass'], $m['db'], (int) $m['port']);
        $t = SHAPES_TABLE;
        $db->query("CREATE TABLE IF NOT EXISTS $t (session_id VARBINARY(256) NOT NULL, data LONGBLOB NOT NULL, "
            . 'last_activity DATETIME NOT NULL, expires_at BIGINT UNSIGNED NOT NULL, PRIMARY KEY (session_id), '
            . 'KEY idx_expires_at (expires_at)) ENGINE=InnoDB');
        $upsertTail = 'ON DUPLICATE KEY UPDATE data = VALUES(data), last_activity = VALUES(last_activity), expires_at = VALUES(expires_at)';
        $upsert = $db->prepare("INSERT INTO $t (session_id, data, last_activity, expires_at) VALUES (?, ?, NOW(), UNIX_TIMESTAMP() + ?) $upsertTail");
        $select = $db->prepare("SELECT data FROM $t WHERE session_id = ? AND expires_at > UNIX_TIMESTAMP()");
        $getLock = $db->prepare('SELECT GET_LOCK(?, 1.0)');
        $release = $db->prepare('DO RELEASE_LOCK(?)');
        $ids = [];
        for ($i = 0; $i < 1000; $i++) {
            $ids[] = sprintf('shape%027d', $i);
        }
        $ttl = 1440;
        $write = function (string $id, string $data) use ($upsert, &$ttl): void {
            $upsert->bind_param('ssi', $id, $data, $ttl);
            $upsert->execute();
        };
        $fetch = function (mysqli_stmt $st, string $arg): void {
            $st->bind_param('s', $arg);
            $st->execute();
            $st->get_result()->fetch_all();
        };
        $multi = function (string $sql) use ($db): void {
            $db->multi_query($sql);
            do {
                if ($r = $db->store_result()) {
                    $r->free();
                }
            } while ($db->more_results() && $db->next_result());
        };
        $shapes = [
            'unlocked_prepared_2rt' => function (string $id, string $data) use ($fetch, $select, $write): void {
                $fetch($select, $id);
                $write($id, $data);
            },
            'locked_text_2rt' => function (string $id, string $data) use ($multi, $t, $upsertTail): void {
                $name = 'cs:' . sha1($id);
                $multi("SELECT GET_LOCK('$name', 1.000000); SELECT data FROM $t WHERE session_id = '$id' AND expires_at > UNIX_TIMESTAMP()");
                $multi("INSERT INTO $t (session_id, data, last_activity, expires_at) VALUES ('$id', X'" . bin2hex($data)
                    . "', NOW(), UNIX_TIMESTAMP() + 1440) $upsertTail; DO RELEASE_LOCK('$name')");
            },
            'locked_prepared_4rt' => function (string $id, string $data) use ($fetch, $select, $getLock, $release, $write): void {
                $name = 'cs:' . sha1($id);
                $fetch($getLock, $name);
                $fetch($select, $id);
                $write($id, $data);
                $release->bind_param('s', $name);
                $release->execute();
            },
        ];
        $payload = str_repeat('x', 1024);
        foreach ($ids as $id) {
            $write($id, $payload);
        }
        $times = time_interleaved(array_map(fn ($cycle) => fn (int $k) => $cycle($ids[$k % 1000], $payload . $k), $shapes),
            $blocks, $perBlock);
        $db->query("DROP TABLE IF EXISTS $t");
        return $times;
    } catch (\Throwable $e) {
        return $none;
    }
}
