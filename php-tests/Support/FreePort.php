<?php

declare(strict_types=1);

namespace Cannon\Session\Tests\Support;

final class FreePort
{
    /**
     * A loopback TCP port that was free a moment ago (the kernel picks it). Another process may
     * take it before the caller binds it: callers that start a server should retry on failure.
     */
    public static function get(): int
    {
        $sock = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
        if ($sock === false) {
            throw new \RuntimeException("cannot bind a loopback port: $errstr");
        }
        $name = (string) stream_socket_get_name($sock, false);
        fclose($sock);
        return (int) substr($name, strrpos($name, ':') + 1);
    }
}
