"""Mission planning (area → routes → sorties → MAVLink items → files) and, later, flying them."""
