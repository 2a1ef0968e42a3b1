<?php

namespace App\Controller;

use Core\BaseController;

class HomeController extends BaseController
{
    public function indexAction()
    {
        $this->session->data['666'] = 123;
        $this->session->adapter->write($this->session->getId(), $this->session->data);

        echo 'stored 666 => 123 in session ', $this->session->getId(), "\n";
    }

    public function updateAction($params)
    {
        $val = $this->session->adapter->read($this->session->getId());
        // This should return ['666' => 123]
        var_export($val);
        echo "\n";

        return $params['id'];
    }
}
