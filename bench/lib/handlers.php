<?php
// The "plain PHP" contenders: the session handlers an application typically writes itself.
// Deliberately simple and unlocked (like most hand-written handlers), and without
// SessionUpdateTimestampHandlerInterface, so PHP calls write() even for unchanged data.

declare(strict_types=1);

/** GET on read, SETEX on write, over one phpredis connection kept for the whole process. */
final class BenchPhpRedisHandler implements SessionHandlerInterface
{
    private ?Redis $redis = null;

    public function __construct(private string $host, private int $port, private string $prefix)
    {
    }

    public function open(string $path, string $name): bool
    {
        if ($this->redis === null) {
            $this->redis = new Redis();
            $this->redis->connect($this->host, $this->port, 2.0);
        }
        return true;
    }

    public function close(): bool
    {
        return true;
    }

    public function read(string $id): string|false
    {
        $v = $this->redis->get($this->prefix . $id);
        return is_string($v) ? $v : '';
    }

    public function write(string $id, string $data): bool
    {
        return $this->redis->setex($this->prefix . $id, (int) ini_get('session.gc_maxlifetime'), $data);
    }

    public function destroy(string $id): bool
    {
        $this->redis->del($this->prefix . $id);
        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }
}

/**
 * SELECT on read, INSERT ... ON DUPLICATE KEY UPDATE on write. Connects in open() and drops the
 * connection in close(): with $persistent the PDO handle is a persistent one (reused by the next
 * cycle, as in php-fpm), without it each cycle pays a new connection.
 */
final class BenchPdoHandler implements SessionHandlerInterface
{
    public const TABLE = 'bench_plain_sessions';

    private ?PDO $pdo = null;

    public function __construct(private string $dsn, private string $user, private string $pass, private bool $persistent)
    {
    }

    public static function createTable(PDO $pdo): void
    {
        $pdo->exec('CREATE TABLE IF NOT EXISTS ' . self::TABLE . ' (sess_id VARBINARY(128) NOT NULL PRIMARY KEY, '
            . 'sess_data MEDIUMBLOB NOT NULL, sess_time INT UNSIGNED NOT NULL) ENGINE=InnoDB');
    }

    public function open(string $path, string $name): bool
    {
        $this->pdo = new PDO($this->dsn, $this->user, $this->pass, [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_PERSISTENT => $this->persistent,
            PDO::ATTR_EMULATE_PREPARES => true,
        ]);
        return true;
    }

    public function close(): bool
    {
        $this->pdo = null;
        return true;
    }

    public function read(string $id): string|false
    {
        $st = $this->pdo->prepare('SELECT sess_data FROM ' . self::TABLE . ' WHERE sess_id = ?');
        $st->execute([$id]);
        $v = $st->fetchColumn();
        return is_string($v) ? $v : '';
    }

    public function write(string $id, string $data): bool
    {
        $st = $this->pdo->prepare('INSERT INTO ' . self::TABLE . ' (sess_id, sess_data, sess_time) VALUES (?, ?, ?) '
            . 'ON DUPLICATE KEY UPDATE sess_data = VALUES(sess_data), sess_time = VALUES(sess_time)');
        $st->bindValue(1, $id);
        $st->bindValue(2, $data, PDO::PARAM_LOB);
        $st->bindValue(3, time(), PDO::PARAM_INT);
        return $st->execute();
    }

    public function destroy(string $id): bool
    {
        $this->pdo->prepare('DELETE FROM ' . self::TABLE . ' WHERE sess_id = ?')->execute([$id]);
        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }
}
