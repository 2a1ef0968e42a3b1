<?php
// The page of the HTTP benchmark: one request = one session cycle (read, change the counter and
// a 1 KB payload, write), like bench/cycle.php's write mode. nginx passes BENCH_SESSION=0 for the
// "no session" baseline. Any failure answers 500, which wrk counts as an error.
declare(strict_types=1);

if (($_SERVER['BENCH_SESSION'] ?? '1') === '0') {
    echo "no session\n";
    return;
}
if (!@session_start()) {
    http_response_code(500);
    echo "session_start failed\n";
    return;
}
$c = (int) ($_SESSION['counter'] ?? 0) + 1;
$_SESSION['counter'] = $c;
$_SESSION['payload'] = str_repeat($c & 1 ? 'a' : 'b', 1024);
if (!session_write_close()) {
    http_response_code(500);
    echo "session_write_close failed\n";
    return;
}
echo "counter $c\n";
