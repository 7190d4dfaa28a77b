/* placeholder: written in a following commit */
