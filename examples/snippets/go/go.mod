module example.com/authara-snippet

go 1.22
